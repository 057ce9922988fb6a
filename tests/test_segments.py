import pytest

from iprogsms_async import count_segments


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 1),
        ("Hello", "GSM-7", 5, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),
        ("€" * 81, "GSM-7", 162, 2),
        ("Your bill: {PHP 500} [due]", "GSM-7", 30, 1),
        ("ñ é ü Ä", "GSM-7", 7, 1),
        ("Salamat po 🙏", "UCS-2", 13, 1),
        ("ç" * 70, "UCS-2", 70, 1),  # lower-case c-cedilla is not GSM-7
        ("ç" * 71, "UCS-2", 71, 2),
        ("ç" * 134, "UCS-2", 134, 2),
        ("ç" * 135, "UCS-2", 135, 3),
    ],
)
def test_counts(text, encoding, units, segments):
    count = count_segments(text)
    assert (count.encoding, count.units, count.segments) == (encoding, units, segments)


def test_an_escape_pair_is_not_split_across_segments():
    # 152 plain septets, then one two-septet character: it cannot straddle.
    text = "a" * 152 + "€" + "a" * 10
    assert count_segments(text).units == 164
    assert count_segments(text).segments == 2
    # Without the move to the next part the first part would hold 153 exactly.
    assert count_segments("a" * 152 + "€" + "a" * 152).segments == 3


def test_a_surrogate_pair_is_not_split_across_segments():
    text = "ç" * 66 + "😀" + "ç" * 5
    assert count_segments(text).units == 73
    assert count_segments(text).segments == 2
    assert count_segments("ç" * 66 + "😀" + "ç" * 66).segments == 3
