"""nnfunc.text.word2vec, the model (``_word2vec/model.py``): its configuration, word2vec.c's
initial tables, and argument errors."""
import jax.numpy as jnp
import pytest

from _word2vec_setup import small_vocab
from nnfunc.text import Vocab, Word2Vec, word2vec


def test_model_holds_its_configuration_and_initialises_as_word2vec_c():
    vocab = small_vocab(20)
    model = word2vec(vocab, dim=8, output="hierarchical", key=5)
    assert isinstance(model, Word2Vec) and model.tree is not None
    assert model.negative_table is None and model.dim == 8
    params = model.init(model.key)
    assert params["in"].shape == (20, 8) and params["out"].shape == (19, 8)
    assert float(jnp.abs(params["in"]).max()) <= 0.5 / 8 and float(params["in"].std()) > 0
    assert float(jnp.abs(params["out"]).max()) == 0.0
    neg = word2vec(vocab, dim=8)
    assert neg.init(0)["out"].shape == (20, 8) and neg.tree is None


@pytest.mark.parametrize("kwargs, match", [
    (dict(window=0), "window"),
    (dict(negatives=0), "negatives"),
    (dict(sample=-1e-3), "sample"),
    (dict(dim=0), "dim"),
    (dict(architecture="glove"), "architecture"),
    (dict(output="nce"), "output"),
    (dict(sample_formula="gensim"), "sample_formula"),
])
def test_word2vec_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        word2vec(small_vocab(), **kwargs)


def test_word2vec_needs_two_words_and_negatives_only_with_negative_sampling():
    with pytest.raises(ValueError, match="at least 2 words"):
        word2vec(Vocab(["a"], [3]))
    word2vec(small_vocab(), output="hierarchical", negatives=0)    # unused: allowed


def test_word2vec_rejects_a_word_list_and_a_non_bool_cbow_mean():
    vocab = small_vocab()
    with pytest.raises(TypeError, match="vocab must be an nf.text.Vocab"):
        word2vec(["a", "b"])
    for bad in ("no", 0, None):
        with pytest.raises(TypeError, match="cbow_mean"):
            word2vec(vocab, architecture="cbow", cbow_mean=bad)
