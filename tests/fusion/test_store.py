import pytest

from fusion.errors import StoreConfigError
from fusion.store import load_store, store_to_toml
from tests.fusion.recfixtures import STORE_TOML


def write(tmp_path, text):
    p = tmp_path / "store.toml"
    p.write_text(text)
    return p


def test_loads_spec_example(tmp_path):
    s = load_store(write(tmp_path, STORE_TOML))
    assert s.name == "Test stand"
    assert list(s.skus) == ["cola-330", "chips"]
    assert s.skus["chips"].name == "chips"  # name defaults to id
    assert s.cells[0].front.shape == (2, 3)
    assert not s.cells[0].front.flags.writeable
    assert s.cells[0].sample_hz == 20 and s.cells[1].noise_g is None
    assert [g.kind for g in s.gates] == ["entry", "exit"]
    assert s.cell_index() == {"A-1": 0, "A-2": 1}


def test_round_trip(tmp_path):
    s = load_store(write(tmp_path, STORE_TOML))
    s2 = load_store(write(tmp_path, store_to_toml(s)))
    assert store_to_toml(s) == store_to_toml(s2)


def test_unknown_keys_ignored_and_extra_tables_kept(tmp_path):
    text = STORE_TOML + '\n[[controller]]\nurl = "loop://"\n\n[site]\nowner = "x"\n'
    text = text.replace('kind = "entry"', 'kind = "entry"\ncolour = "red"')
    s = load_store(write(tmp_path, text))
    assert s.extra["controller"][0]["url"] == "loop://"


@pytest.mark.parametrize("old,new,key,reason", [
    ('skus = ["chips"]', 'skus = ["chipz"]', "cell[1] 'A-2'.skus", "unknown SKU 'chipz'"),
    ('id = "A-2"', 'id = "A-1"', "cell[1].id", "duplicate cell id"),
    ('id = "chips"', 'id = "cola-330"', "sku[1].id", "duplicate SKU id"),
    ("weight_g = 45.0", "weight_g = 0", "sku[1] 'chips'.weight_g", "must be > 0"),
    ("weight_g = 45.0", "weight_g = -3", "sku[1] 'chips'.weight_g", "must be > 0"),
    ("weight_g = 45.0", 'weight_g = "heavy"', "sku[1] 'chips'.weight_g", "finite number"),
    ("weight_sd_g = 1.0", "weight_sd_g = -1.0", "weight_sd_g", ">= 0"),
    ('id = "chips"', 'id = "chips crisps"', "sku[1].id", "characters outside"),
    ("zone = [[4.0, 0.0], [5.0, 0.0], [5.0, 0.8], [4.0, 0.8]]", "zone = [[4.0, 0.0], [5.0, 0.0]]",
     "gate[0] 'G1'.zone", "at least 3 points"),
    ("zone = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.8], [0.0, 0.8]]", "zone = [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]",
     "gate[1] 'G2'.zone", "no area"),
    ('kind = "exit"', 'kind = "out"', "gate[1] 'G2'.kind", "must be one of"),
    ('kind = "entry"', 'kind = "exit"', "gate", "no gate of kind 'entry'"),
    ("front = [[0.00, 2.00, 1.20], [0.40, 2.00, 1.20]]", "front = [[0.00, 2.00], [0.40, 2.00]]",
     "cell[0] 'A-1'.front[0]", "3 numbers"),
    ("sample_hz = 20", "sample_hz = 0", "sample_hz", "must be > 0"),
    ("format = 1", "format = 2", "format", "unsupported format"),
    ('id = "C1"', 'id = "G1"\n[[camera]]\nid = "G1"', "camera[1].id", "duplicate camera id"),
])
def test_errors_name_key_and_reason(tmp_path, old, new, key, reason):
    assert old in STORE_TOML
    with pytest.raises(StoreConfigError) as e:
        load_store(write(tmp_path, STORE_TOML.replace(old, new, 1)))
    msg = str(e.value)
    assert "store.toml" in msg and key in msg and reason in msg


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(StoreConfigError, match="not valid TOML"):
        load_store(write(tmp_path, "format = = 1"))
    with pytest.raises(StoreConfigError, match="cannot read"):
        load_store(tmp_path / "nope.toml")
    with pytest.raises(StoreConfigError, match="no \\[\\[cell\\]\\]"):
        load_store(write(tmp_path, 'format = 1\n[[gate]]\nid="G"\nzone=[[0,0],[1,0],[1,1]]\n'))
