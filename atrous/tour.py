"""A printed tour of the arithmetic: the facts dilation and transposed convolution are known for."""

from __future__ import annotations

from typing import Any, cast

from atrous.geometry import (
    ConvSpec,
    Field,
    PoolSpec,
    coverage,
    hdc,
    output_size,
    receptive_field,
    valid_output_sizes,
)

__all__ = ["tour", "tour_data"]

_GRIDDING_RATES = ((2, 2, 2), (1, 2, 5), (2, 4, 8), (1, 2, 9))


def _vgg16() -> list[tuple[str, ConvSpec | PoolSpec]]:
    layers: list[tuple[str, ConvSpec | PoolSpec]] = []
    for block, n in enumerate((2, 2, 3, 3, 3), start=1):
        layers += [(f"conv{block}_{i}", ConvSpec(3, padding=1)) for i in range(1, n + 1)]
        layers.append((f"pool{block}", PoolSpec(2)))
    return layers


def tour_data() -> dict[str, Any]:
    """The tour's numbers (what ``atrous tour --json`` prints), all from :mod:`atrous.geometry`.

    Examples:
        >>> tour_data()["stack"]["receptive_fields"]
        [3, 7, 15]
        >>> tour_data()["vgg16"][-1]
        {'layer': 'pool5', 'receptive_field': 212, 'stride': 32, 'padding': 90}
    """
    k, d = 5, 3
    rf = receptive_field([ConvSpec(k, dilation=d)])[0].size
    stack = receptive_field([ConvSpec(3, dilation=r) for r in (1, 2, 4)])
    f = receptive_field([ConvSpec(3, dilation=4)], input_size=(9, 9))[0]
    rows, cols = f.support((0, 0))
    gridding = []
    for rates in _GRIDDING_RATES:
        cov = coverage(rates, 3)
        h = hdc(rates, 3)
        gridding.append(
            {
                "dilations": list(rates),
                "receptive_field": cov.size,
                "holes": len(cov.holes),
                "hole_period": cov.period,
                "hdc_M": list(h.M),
                "hdc_ok": h.ok,
            }
        )
    # 1-d specs: their receptive fields are 1-d Fields
    t3 = cast(Field, receptive_field([ConvSpec(3, stride=2, padding=1, transposed=True)])[0])
    t4 = cast(Field, receptive_field([ConvSpec(4, stride=2, padding=1, transposed=True)])[0])
    names, specs = zip(*_vgg16(), strict=True)
    vgg = [
        {"layer": name, "receptive_field": fl.size, "stride": int(fl.jump), "padding": -fl.start}
        for name, fl in zip(names, cast("list[Field]", receptive_field(list(specs))), strict=True)
    ]
    return {
        "dilated_kernel": {"kernel_size": k, "dilation": d, "receptive_field": rf, "weights": k, "plain_weights": rf},
        "stack": {"kernel_size": 3, "dilations": [1, 2, 4], "receptive_fields": [x.size for x in stack]},
        "nine_by_nine": {
            "stride_2_output": list(output_size((9, 9), 3, stride=2)),
            "dilation_4_output": list(output_size((9, 9), 3, dilation=4)),
            "dilation_4_reads": [[i, j] for i in rows for j in cols],
        },
        "gridding": gridding,
        "transposed": {
            "valid_output_sizes_4_k3_s2_p1": list(valid_output_sizes(4, 3, stride=2, padding=1)),
            "k3_s2_jump": t3.jump,
            "k3_s2_taps_per_phase": [p.taps for p in t3.phases],
            "k4_s2_taps_per_phase": [p.taps for p in t4.phases],
        },
        "vgg16": vgg,
    }


def tour() -> None:
    """Print the tour (rich)."""
    from rich.console import Console
    from rich.table import Table

    data = tour_data()
    c = Console(highlight=False, soft_wrap=True)
    c.rule("[bold]atrous: a tour of the arithmetic")

    one = data["dilated_kernel"]
    k, d, r = one["kernel_size"], one["dilation"], one["receptive_field"]
    c.print("\n[bold]1. One dilated kernel.[/bold] R = (k-1)*d + 1")
    c.print(f"   k={k}, d={d}: receptive field {r} (= {(k - 1) * d + 1}) with {k} weights;")
    c.print(f"   a plain kernel with the same span has {r} weights, {r / k:.1f}x as many.")

    c.print(
        "\n[bold]2. Stacking 3-tap layers with d = 1, 2, 4[/bold] grows the field exponentially, parameters stay equal:"
    )
    c.print("   receptive fields: " + ", ".join(map(str, data["stack"]["receptive_fields"])) + "   (2^(i+2) - 1)")

    nine = data["nine_by_nine"]
    c.print("\n[bold]3. On a 9x9 input[/bold]")
    c.print(f"   3x3 kernel, stride 2, no padding: output {tuple(nine['stride_2_output'])}")
    taps = ", ".join(f"x[{i},{j}]" for i, j in nine["dilation_4_reads"])
    c.print(f"   3x3 kernel, dilation 4: output {tuple(nine['dilation_4_output'])}, reads {taps}")

    c.print("\n[bold]4. Gridding.[/bold] Exact coverage of three 3-tap layers:")
    for g in data["gridding"]:
        period = g["hole_period"]
        holes = (
            "no holes"
            if not g["holes"]
            else f"{g['holes']} holes of {g['receptive_field']}"
            + (f" (period {period})" if period and period > 1 else "")
        )
        verdict = "passes" if g["hdc_ok"] else "fails"
        c.print(
            f"   {g['dilations']!s:>10}: field {g['receptive_field']:>3}, {holes}; HDC rule M = {g['hdc_M']}: {verdict}"
        )

    t = data["transposed"]
    c.print("\n[bold]5. Transposed convolution[/bold] (the adjoint of the convolution)")
    c.print(f"   4 -> k=3, s=2, p=1 transposed: sizes {t['valid_output_sizes_4_k3_s2_p1']} (output_padding 0 or 1)")
    c.print(
        f"   k=3, s=2: jump {t['k3_s2_jump']}, taps per output phase {t['k3_s2_taps_per_phase']}: uneven, a checkerboard"
    )
    c.print(f"   k=4, s=2: taps per output phase {t['k4_s2_taps_per_phase']}: even (k divisible by s)")

    c.print("\n[bold]6. VGG-16[/bold] receptive field / effective stride / effective padding")
    table = Table()
    for col in ("layer", "RF", "stride", "padding"):
        table.add_column(col, justify="right")
    for row in data["vgg16"]:
        if row["layer"].endswith("_1") or row["layer"].startswith("pool"):
            table.add_row(row["layer"], str(row["receptive_field"]), str(row["stride"]), str(row["padding"]))
    c.print(table)
    c.print("Next: `atrous rf -k 3 -d 1,2,4`, `atrous shape 9,9 -k 3 -s 2`, `atrous plan --target 1000`.")
