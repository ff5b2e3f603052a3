"""residency/transparency.py against the RFC 6962 test vectors (the 8-leaf tree of certificate-transparency's
merkle_tree_test and transparency-dev/merkle's testonly constants), and every proof of every tree up to 40
leaves verified — and, altered, refused."""

from __future__ import annotations

import pytest

from residency import transparency as t

LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]


def h(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


INCLUSION = [  # (0-based index, tree size, audit path)
    (0, 1, []),
    (0, 8, h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (5, 8, h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 3, h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (1, 5, h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
]
CONSISTENCY = [  # (first size, second size, proof)
    (1, 1, []),
    (1, 8, h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (6, 8, h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 5, h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
]
HASHES = [t.leaf_hash(x) for x in LEAVES]


def test_roots_of_every_prefix_match_the_vectors() -> None:
    for n in range(9):
        assert t.root(HASHES[:n]) == ROOTS[n], n


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_vectors(index: int, size: int, path: list[bytes]) -> None:
    assert t.inclusion_proof(index, HASHES[:size]) == path
    assert t.verify_inclusion(index, size, HASHES[index], path, ROOTS[size])


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_vectors(first: int, second: int, proof: list[bytes]) -> None:
    assert t.consistency_proof(first, HASHES[:second]) == proof
    assert t.verify_consistency(first, second, ROOTS[first], ROOTS[second], proof)


def test_every_proof_up_to_40_leaves_verifies_and_any_change_is_refused() -> None:
    leaves = [t.leaf_hash(i.to_bytes(4, "big")) for i in range(40)]
    roots = [t.root(leaves[:n]) for n in range(41)]
    for n in range(1, 41):
        for i in range(n):
            path = t.inclusion_proof(i, leaves[:n])
            assert t.verify_inclusion(i, n, leaves[i], path, roots[n])
            assert not t.verify_inclusion(i, n, t.leaf_hash(b"other"), path, roots[n])
            if path:
                bad = [*path[:-1], bytes(32)]
                assert not t.verify_inclusion(i, n, leaves[i], bad, roots[n])
                assert not t.verify_inclusion(i, n, leaves[i], path[:-1], roots[n])
        for m in range(1, n + 1):
            proof = t.consistency_proof(m, leaves[:n])
            assert t.verify_consistency(m, n, roots[m], roots[n], proof)
            if m < n:
                forked = [*leaves[:m - 1], t.leaf_hash(b"rewritten"), *leaves[m:n]]
                assert not t.verify_consistency(m, n, roots[m], t.root(forked), proof)
                assert not t.verify_consistency(m, n, t.root(forked[:m]), roots[n], proof)
                assert not t.verify_consistency(m, n, roots[m], roots[n], proof[:-1])
                dropped = leaves[:m - 1] + leaves[m:n]  # one record removed, the rest re-hashed
                assert not t.verify_consistency(m, n - 1, roots[m], t.root(dropped),
                                                t.consistency_proof(min(m, n - 1), dropped))


def test_requests_outside_the_tree_are_refused() -> None:
    with pytest.raises(t.ProofError):
        t.inclusion_proof(3, HASHES[:3])
    with pytest.raises(t.ProofError):
        t.consistency_proof(4, HASHES[:3])
    assert not t.verify_inclusion(3, 3, HASHES[0], [], ROOTS[3])
    assert not t.verify_consistency(5, 3, ROOTS[5], ROOTS[3], [])
    assert not t.verify_consistency(2, 3, ROOTS[2], ROOTS[3], [])
