"""Pure protocol translators: each client protocol to and from Gemini (SPEC §8)."""
