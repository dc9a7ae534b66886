"""`infogan infer MODEL IMAGES... [--out codes.csv|codes.json]`: each image's codes as Q reads them (infer.py)."""

from __future__ import annotations

import csv
import io
import json

from ._common import MODEL_HELP, add_threads, results_file, use_threads, write_results


def add_parser(sub) -> None:
    p = sub.add_parser("infer", help="read each image's codes with the trained encoder Q")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("images", nargs="+",
                   help="image files, folders (searched recursively), zips of images or IDX files of images (MNIST's format)")
    p.add_argument("--out", help="write the codes to this .csv or .json file instead of printing a table")
    p.add_argument("--invert", action="store_true",
                   help="the images are dark on light: invert them (MNIST-style models read light strokes on black)")
    p.add_argument("--bad-images", choices=("error", "skip"), default="error",
                   help="an unreadable image stops the command (error, the default) or is left out and named (skip)")
    add_threads(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..infer import infer

    out = results_file(args.out, (".csv", ".json")) if args.out else None
    use_threads(args)
    result = infer(args.model, args.images, invert=args.invert, bad_images=args.bad_images)
    rows, columns = result["rows"], list(result["rows"][0])
    for note in result["notes"]:
        print(f"infogan: {note}")
    if out:
        if out.suffix.lower() == ".json":
            text = json.dumps(result, indent=1) + "\n"
        else:
            buf = io.StringIO()
            writer = csv.DictWriter(buf, columns)
            writer.writeheader()
            writer.writerows(rows)
            text = buf.getvalue()
        write_results(out, text)
    else:
        width = max(len("image"), *(len(r["image"]) for r in rows))
        print(f"{'image':<{width}}  " + "  ".join(f"{c:>12}" for c in columns[1:]))
        for r in rows:
            print(f"{r['image']:<{width}}  " + "  ".join(f"{str(r[c]):>12}" for c in columns[1:]))
    if args.out:
        print(f"infogan: {len(rows)} images' codes written to {args.out}")
    return 0
