"""The frontier's Pareto points as runtime files, measured in their runtimes.

`deploy_front` takes each Pareto point of a frontier results folder whose
shipped ``.dctk`` file is on disk, decodes it, and writes it as a
full-integer LiteRT file (int8 weights and activations, calibrated on the
run's own training images) and as a float ONNX file
(`dct_keras.export.runtime`); each is evaluated in its runtime on the run's
test images. The results go to ``runtimes.json`` beside ``results.jsonl``
(written atomically after each point, so a killed run resumes), keyed by the
shipped file and its size; `runtime_table` renders them under the frontier's
table. The runtime files themselves go to ``runtimes/`` and are not kept
with the results.
"""

import json
import os

from dct_keras.experiment.tables import markdown_table
from dct_keras.experiment.techniques import technique

RUNTIMES_FILE = "runtimes.json"
RUNTIMES_FOLDER = "runtimes"


def read_runtimes(out_dir):
    """The measured runtime files of a results folder: shipped file -> entry."""
    try:
        with open(os.path.join(out_dir, RUNTIMES_FILE), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def deploy_front(points, data, out_dir, log=print):
    """Measures the runtime files of the Pareto ``points`` (`frontier_points`)
    of ``out_dir`` on ``data`` (the prepared data the runs used); returns the
    entries, old and new."""
    import numpy as np

    from dct_keras.export.runtime import REPRESENTATIVE_EXAMPLES, export_runtime, runtime_predict
    from dct_keras.export.ship import load_shipped
    from dct_keras.files import write_atomically

    measured = read_runtimes(out_dir)
    front = [p for p in points if p["pareto"] and p.get("file")]
    labels = np.asarray(data.y_test).reshape(-1)
    for number, point in enumerate(front, 1):
        shipped = os.path.join(out_dir, point["file"])
        name = f"[{number}/{len(front)}] {point['file']}"
        if not os.path.exists(shipped):
            log(f"{name}: not on disk (not kept with the results), skipped")
            continue
        if measured.get(point["file"], {}).get("dctk_bytes") == os.path.getsize(shipped):
            log(f"{name}: measured earlier")
            continue
        model = load_shipped(shipped)
        stem = os.path.join(out_dir, RUNTIMES_FOLDER, os.path.splitext(os.path.basename(point["file"]))[0])
        entry = {"dctk_bytes": os.path.getsize(shipped), "accuracy": point["accuracy"]}
        for key, path, options in (("litert_int8", stem + "-int8.tflite",
                                    {"format": "litert", "int8": True, "representative": data.x_train[:REPRESENTATIVE_EXAMPLES]}),
                                   ("onnx", stem + ".onnx", {"format": "onnx"})):
            sizes = export_runtime(model, path, **options)
            predicted = np.argmax(runtime_predict(path, data.x_test), axis=-1)
            entry[key] = {**sizes, "accuracy": float(np.mean(predicted == labels))}
        measured[point["file"]] = entry
        write_atomically(os.path.join(out_dir, RUNTIMES_FILE), json.dumps(measured, indent=1, sort_keys=True))
        log(f"{name}: .dctk {entry['dctk_bytes']:,} B at {entry['accuracy']:.4f}; LiteRT int8 "
            f"{entry['litert_int8']['bytes']:,} B ({entry['litert_int8']['gzip_bytes']:,} gzipped) at "
            f"{entry['litert_int8']['accuracy']:.4f}; ONNX {entry['onnx']['bytes']:,} B at {entry['onnx']['accuracy']:.4f}")
    return measured


def runtime_table(points, out_dir):
    """The runtime files of the Pareto points measured in ``out_dir``, as a
    markdown section ("" when none were)."""
    measured = read_runtimes(out_dir)
    rows = []
    for point in points:
        entry = measured.get(point.get("file"))
        if not point["pareto"] or entry is None or entry["dctk_bytes"] != point["bytes"]:
            continue
        lite, onnx = entry["litert_int8"], entry["onnx"]
        rows.append([point["technique"], technique(point["technique"]).label(point["budget"]), point["bits"], f"{point['bytes']:,}", f"{point['accuracy']:.4f}",
                     f"{lite['bytes']:,}", f"{lite['gzip_bytes']:,}", f"{lite['accuracy']:.4f}",
                     f"{onnx['bytes']:,}", f"{onnx['accuracy']:.4f}"])
    if not rows:
        return ""
    header = ["technique", "budget", "bits", ".dctk bytes", "accuracy (decoded)", "LiteRT int8 bytes", "gzipped",
              "accuracy (LiteRT int8)", "ONNX bytes", "accuracy (onnxruntime)"]
    notes = ["Each Pareto point's shipped file decoded, folded to plain Keras and exported (`dct-keras deploy`, "
             "`dct_keras.export.runtime`): full-integer LiteRT (int8 weights and activations, calibrated on 200 "
             "training images) run in ai-edge-litert's interpreter, float32 ONNX run in onnxruntime, both on the "
             "test images the decoded accuracy was measured on. A runtime file stores every weight densely (zeros "
             "included), so its size follows the parameter count, not the compression; gzip recovers part of it."]
    return "\n" + markdown_table(header, rows, "Runtime files of the Pareto points", level=2, notes=notes)
