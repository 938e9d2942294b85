"""Plate text normalisation, country formats and format-aware decoding."""

from __future__ import annotations

import numpy as np
import pytest

from vigil_core.anpr.decode import FormatPrior, SlotDecoder
from vigil_core.plates.normalize import (
    COUNTRIES,
    all_formats,
    canonical,
    country_formats,
    find_format,
    formats_for,
    resolve_by_neighbours,
    resolve_text,
)

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ab-123-cd", "AB123CD"),
        ("1234 AB 56", "1234AB56"),
        ("M·AB 1234", "MAB1234"),
        ("KÖ XY 12", "KOXY12"),
        (" 7abc123 ", "7ABC123"),
    ],
)
def test_canonical_keeps_letters_and_digits(raw: str, expected: str) -> None:
    assert canonical(raw) == expected


@pytest.mark.parametrize(
    ("plate", "country", "name"),
    [
        ("AB123CD", "fr", "siv"),
        ("1234AB56", "fr", "fni"),
        ("123ABC974", "fr", "fni"),
        ("MAB1234", "de", "std"),
        ("BXY987E", "de", "std"),
        ("1234BCD", "es", "std"),
        ("M1234AB", "es", "provincial"),
        ("AB12CDE", "uk", "current"),
        ("7ABC123", "us", "std"),
        ("AB1C2D", "us", "std"),
        ("AB123CD", "it", "std"),
        ("ZG1234AB", "hr", "std"),
        ("ST123A", "hr", "std"),
        ("ABC1D23", "br", "mercosur"),
        ("ABC1234", "br", "old"),
        ("AB123CD", "ar", "mercosur"),
        ("ABCD123", "py", "mercosur"),
        ("SBA1234", "uy", "mercosur"),
        ("AB12345", "no", "std"),
        ("1A23456", "cz", "std"),
        ("BA123AB", "sk", "std"),
        ("B123ABC", "ro", "std"),
        ("191D12345", "ie", "std"),
        ("ABC123", "se", "std"),
        ("ABE1234", "gr", "std"),
    ],
)
def test_formats_recognise_their_plates(plate: str, country: str, name: str) -> None:
    fmt = find_format(plate, country_formats(country))
    assert fmt is not None
    assert (fmt.country, fmt.name) == (country, name)


def test_french_siv_never_issues_i_o_u() -> None:
    siv = formats_for(["fr"])[0]
    assert siv.key == "fr_siv"
    assert not siv.matches("AO123CD")
    assert not siv.matches("AB123CU")
    assert siv.display("AB123CD") == "AB-123-CD"


def test_fni_three_digit_departments_are_overseas_only() -> None:
    fni = formats_for(["fr"])
    assert find_format("123AB974", fni) is not None
    assert find_format("123AB213", fni) is None


def test_empty_country_list_means_no_format() -> None:
    assert formats_for([]) == ()
    assert {fmt.country for fmt in all_formats()} == set(COUNTRIES)


@pytest.mark.parametrize(
    ("read", "countries", "expected", "key"),
    [
        ("A8-I23-CD", ["fr"], "AB123CD", "fr_siv"),  # B/8 in a letter slot, I/1 in a digit slot
        ("AB-123-C0", ["fr"], "AB123CD", "fr_siv"),  # SIV has no O: a 0 in a letter slot is a D
        ("12S4 AB 56", ["fr"], "1254AB56", "fr_fni"),
        ("AB1O CDE", ["uk"], "AB10CDE", "uk_current"),
        ("S678 FGH", ["es"], "5678FGH", "es_std"),
        ("UH1 FOF", ["us"], "UH1F0F", "us_std"),  # Missouri: the fifth character is a digit
        ("7A8C123", ["us"], "7ABC123", "us_std"),  # California: three letters after the digit
    ],
)
def test_confusables_are_resolved_by_position(
    read: str, countries: list[str], expected: str, key: str
) -> None:
    resolved = resolve_text(read, formats_for(countries))
    assert resolved.text == expected
    assert resolved.format is not None and resolved.format.key == key


def test_text_in_no_format_keeps_its_characters_unless_neighbours_agree() -> None:
    assert resolve_text("T0YDR", formats_for(["fr"])).format is None
    assert resolve_by_neighbours("T0YDR") == "TOYDR"
    assert resolve_by_neighbours("4OO7351") == "4007351"
    assert resolve_by_neighbours("25810X") == "25810X"  # too little evidence either way


def _probs(text: str, *, slots: int = 9, confidence: float = 0.96) -> np.ndarray:
    """Return S×K probabilities reading `text` with the given confidence per slot."""
    probs = np.full((slots, len(ALPHABET)), (1 - confidence) / (len(ALPHABET) - 1), np.float32)
    for i, char in enumerate(text.ljust(slots, "_")):
        probs[i, ALPHABET.index(char)] = confidence
    return probs


def test_decoder_without_formats_is_the_ocr_reading() -> None:
    decoder = SlotDecoder(ALPHABET, "_")
    read = decoder.decode(_probs("UH1FOF"))
    assert read.text == "UH1FOF"
    assert read.format is None
    assert read.confidence == pytest.approx(0.96, abs=1e-3)
    assert "UH1FOF" not in repr(read)


def test_decoder_resolves_o_and_zero_by_format() -> None:
    decoder = SlotDecoder(ALPHABET, "_", formats_for(["us"]))
    read = decoder.decode(_probs("UH1FOF"))
    assert read.text == "UH1F0F"
    assert read.format is not None and read.format.pattern == "LLD-LDL"


def test_decoder_keeps_a_confident_character_against_a_format() -> None:
    # X is no confusable of anything: no format may turn it into a digit.
    decoder = SlotDecoder(ALPHABET, "_", formats_for(["fr"]))
    assert decoder.decode(_probs("AB1X3CD")).text == "AB1X3CD"


def test_decoder_takes_a_second_opinion_within_reach() -> None:
    decoder = SlotDecoder(ALPHABET, "_")
    probs = _probs("G00GLE")
    probs[1, ALPHABET.index("O")] = 0.03
    probs[2, ALPHABET.index("O")] = 0.03
    assert decoder.decode(probs).text == "G00GLE"
    assert decoder.decode(probs, "GOOGLE", 0.95).text == "GOOGLE"
    # A hint the OCR finds implausible (a different letter) does not win.
    assert decoder.decode(probs, "GOOGLF", 0.95).text == "G00GLE"


def test_decoder_reads_padding_as_the_plate_length() -> None:
    decoder = SlotDecoder(ALPHABET, "_", formats_for(["es"]))
    read = decoder.decode(_probs("1234BCD"))
    assert read.text == "1234BCD"
    assert len(read.char_confidences) == 7


def test_a_confident_second_opinion_settles_the_length() -> None:
    """The OCR's fixed slots repeat a character on a short plate; a CTC reader does not."""
    decoder = SlotDecoder(ALPHABET, "_")
    probs = _probs("SKAA")
    probs[3, ALPHABET.index("A")] = 0.9
    probs[3, ALPHABET.index("_")] = 0.04
    assert decoder.decode(probs).text == "SKAA"
    assert decoder.decode(probs, "SKA", 0.6).text == "SKAA"  # unsure: its characters only
    assert decoder.decode(probs, "SKA", 0.97).text == "SKA"
    # The length counts even where the characters disagree: the OCR's own 3 characters win
    # when the OCR itself hesitated about the fourth.
    probs[3, ALPHABET.index("A")] = 0.8
    probs[3, ALPHABET.index("_")] = 0.15
    assert decoder.decode(probs, "SKB", 0.6).text == "SKAA"
    assert decoder.decode(probs, "SKB", 0.97).text == "SKA"


def test_eu_uk_switzerland_norway_and_mercosur_are_known() -> None:
    eu = "at be bg cy cz de dk ee es fi fr gr hr hu ie it lt lu lv mt nl pl pt ro se si sk"
    for country in [*eu.split(), "uk", "ch", "no", "br", "ar", "uy", "py"]:
        assert country in COUNTRIES, country
        assert country_formats(country)


def _warm_prior(countries: tuple[str, ...], plate: str) -> FormatPrior:
    prior = FormatPrior(formats_for(countries) if countries else all_formats(), warmup=20)
    for _ in range(40):  # a camera that mostly sees old Brazilian / US ABC1234 plates
        prior.observe(plate, 0.99)
    assert prior.table() is not None
    return prior


def _hesitant(text: str, slot: int, other: str, share: float) -> np.ndarray:
    probs = _probs(text)
    probs[slot, ALPHABET.index(other)] = share
    probs[slot, ALPHABET.index(text[slot])] = 0.96 - share
    return probs


def test_without_countries_a_reading_in_a_known_format_is_not_corrected() -> None:
    # A Mercosur ABC1O23 (O in a letter slot), the OCR hesitating between O and 0: the camera's
    # learned ABC1234 format must not turn it into ABC1023.
    decoder = SlotDecoder(ALPHABET, "_", learner=_warm_prior((), "ABC1234"))
    read = decoder.decode(_hesitant("ABC1O23", 4, "0", 0.40))
    assert read.text == "ABC1O23"


def test_without_countries_learned_formats_still_settle_a_reading_in_none() -> None:
    # ABC12S4 fits no known format; the camera's ABC1234 format settles its S as a 5.
    decoder = SlotDecoder(ALPHABET, "_", learner=_warm_prior((), "ABC1234"))
    assert decoder.decode(_hesitant("ABC12S4", 5, "5", 0.40)).text == "ABC1254"


def test_with_countries_only_their_formats_count() -> None:
    # The US chosen alone: an O in that slot of ABC1O23 is a 0 (no US format has a letter there).
    us = SlotDecoder(ALPHABET, "_", formats_for(["us"]))
    assert us.decode(_hesitant("ABC1O23", 4, "0", 0.40)).text == "ABC1023"
    prior = _warm_prior(("us",), "ABC1234")
    prior.observe("ABC1D23", 0.99)  # a Mercosur plate is no US format: counted as vanity
    assert "br_mercosur:LLL DLDD" not in prior.counts()
