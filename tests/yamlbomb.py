"""The YAML alias bomb ("billion laughs") the bounded-YAML tests send everywhere.

Nine levels of nine aliases: 324 bytes that expand to 9^9 (387 million) strings. Any
walk of it (JSON, validation, interpolation) would run the process out of memory;
`headwater.yamlload` refuses it at line `BOMB_LINE`, the first alias that takes the
expanded size over a million nodes.
"""

BOMB = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True))
BOMB_LINE = 7  # g: 9^6 = 531,441 x's plus their lists; the second *f passes a million
