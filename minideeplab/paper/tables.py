"""Plain-text tables: what the reproduce jobs write to figures/*.txt and the tutorials print."""

__all__ = ["table_text"]


def table_text(rows, header):
    """Format rows (lists of values) as an aligned plain-text table with a header line.

    Floats are written with 4 decimals, everything else with ``str``; every column is
    right-aligned to its widest cell, and a line of dashes separates the header.
    """
    cells = [header] + [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in r]
                        for r in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
