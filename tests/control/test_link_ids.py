"""Link ids are unguessable and signed, and they never start with "-": people paste them as command-line
arguments (`castellan link revoke ID`), where a leading dash would read as an option."""

from signalling.control.linkids import LinkSigner


def test_link_ids_verify_and_never_look_like_an_option():
    signer = LinkSigner(b"k" * 32)
    ids = [signer.new() for _ in range(3000)]  # about 47 would start with "-" if drawn plainly
    assert all(signer.verify(i) for i in ids)
    assert not any(i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids)
