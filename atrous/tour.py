"""A printed tour of the arithmetic: the facts dilation and transposed convolution are known for."""

from __future__ import annotations

from atrous.geometry import (
    ConvSpec,
    PoolSpec,
    coverage,
    hdc,
    output_size,
    receptive_field,
    valid_output_sizes,
)

__all__ = ["tour"]


def _vgg16() -> list[tuple[str, ConvSpec | PoolSpec]]:
    layers: list[tuple[str, ConvSpec | PoolSpec]] = []
    for block, n in enumerate((2, 2, 3, 3, 3), start=1):
        layers += [(f"conv{block}_{i}", ConvSpec(3, padding=1)) for i in range(1, n + 1)]
        layers.append((f"pool{block}", PoolSpec(2)))
    return layers


def tour() -> None:
    """Print the tour (rich)."""
    from rich.console import Console
    from rich.table import Table

    c = Console(highlight=False)
    c.rule("[bold]atrous: a tour of the arithmetic")

    c.print("\n[bold]1. One dilated kernel.[/bold] R = (k-1)*d + 1")
    k, d = 5, 3
    r = (k - 1) * d + 1
    c.print(
        f"   k={k}, d={d}: receptive field {receptive_field([ConvSpec(k, dilation=d)])[0].size} (= {r}) with {k} weights;"
    )
    c.print(f"   a plain kernel with the same span has {r} weights, {r / k:.1f}x as many.")

    c.print(
        "\n[bold]2. Stacking 3-tap layers with d = 1, 2, 4[/bold] grows the field exponentially, parameters stay equal:"
    )
    fields = receptive_field([ConvSpec(3, dilation=d) for d in (1, 2, 4)])
    c.print("   receptive fields: " + ", ".join(str(f.size) for f in fields) + "   (2^(i+2) - 1)")

    c.print("\n[bold]3. On a 9x9 input[/bold]")
    c.print(f"   3x3 kernel, stride 2, no padding: output {output_size((9, 9), 3, stride=2)}")
    f = receptive_field([ConvSpec(3, dilation=4)], input_size=(9, 9))[0]
    rows, cols = f.support((0, 0))
    taps = ", ".join(f"x[{i},{j}]" for i in rows for j in cols)
    c.print(f"   3x3 kernel, dilation 4: output {output_size((9, 9), 3, dilation=4)}, reads {taps}")

    c.print("\n[bold]4. Gridding.[/bold] Exact coverage of three 3-tap layers:")
    for rates in ((2, 2, 2), (1, 2, 5), (2, 4, 8), (1, 2, 9)):
        cov = coverage(rates, 3)
        h = hdc(rates, 3)
        holes = (
            "no holes"
            if cov.ok
            else f"{len(cov.holes)} holes of {cov.size}"
            + (f" (period {cov.period})" if cov.period and cov.period > 1 else "")
        )
        c.print(
            f"   {list(rates)!s:>10}: field {cov.size:>3}, {holes}; HDC rule M = {list(h.M)}: {'passes' if h.ok else 'fails'}"
        )

    c.print("\n[bold]5. Transposed convolution[/bold] (the adjoint of the convolution)")
    c.print(
        f"   4 -> k=3, s=2, p=1 transposed: sizes {list(valid_output_sizes(4, 3, stride=2, padding=1))} (output_padding 0 or 1)"
    )
    t = receptive_field([ConvSpec(3, stride=2, padding=1, transposed=True)])[0]
    c.print(f"   k=3, s=2: jump {t.jump}, taps per output phase {[p.taps for p in t.phases]}: uneven, a checkerboard")
    t = receptive_field([ConvSpec(4, stride=2, padding=1, transposed=True)])[0]
    c.print(f"   k=4, s=2: taps per output phase {[p.taps for p in t.phases]}: even (k divisible by s)")

    c.print("\n[bold]6. VGG-16[/bold] receptive field / effective stride / effective padding")
    table = Table()
    for col in ("layer", "RF", "stride", "padding"):
        table.add_column(col, justify="right")
    names, specs = zip(*_vgg16())
    for name, fl in zip(names, receptive_field(list(specs))):
        if name.endswith("_1") or name.startswith("pool"):
            table.add_row(name, str(fl.size), str(fl.jump), str(-fl.start))
    c.print(table)
    c.print("Next: `atrous rf -k 3 -d 1,2,4`, `atrous shape 9,9 -k 3 -s 2`, `atrous plan --target 1000`.")
