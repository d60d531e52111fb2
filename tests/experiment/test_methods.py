"""The five methods through the one protocol: plan, build, train / evaluate
through the `Runner`, their own row fields, their table and plots."""

import json
import os

import keras
import numpy as np
import pytest

import dct_keras
from dct_keras.experiment import apply_overrides, load_config
from dct_keras.experiment.config import config_hash, config_names, resolve_config
from dct_keras.experiment.data import ImageDataset, prepare_data
from dct_keras.experiment.protocol import METHODS, Method, RunSpec, method_class
from dct_keras.experiment.runner import Runner


def _config(name, tier=None, **overrides):
    return apply_overrides(load_config(resolve_config(name)), tier=tier, **overrides)


def _images(rng, n, side, channels=3, classes=10):
    shape = (n, side, side, channels)
    return rng.integers(0, 256, shape, dtype=np.uint8), np.arange(n) % classes


def _dataset(rng, n_train, n_test, side, channels=3, classes=10):
    return ImageDataset(*_images(rng, n_train, side, channels, classes), *_images(rng, n_test, side, channels, classes), "synthetic")


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _quiet(method, data, out):
    return Runner(method, data, out, verbose=0, log=lambda *_: None)


@pytest.mark.parametrize("name", config_names())
def test_every_method_implements_the_protocol(name):
    config = _config(name)
    method = method_class(config["method"])(config)
    assert isinstance(method, Method) and method.name == config["method"]
    for hook in ("plan", "build", "render"):  # the hooks every method must answer itself
        assert getattr(type(method), hook) is not getattr(Method, hook), (name, hook)
    plan = method.plan()
    assert plan and all(isinstance(spec, RunSpec) for spec in plan)
    assert len({spec.key for spec in plan}) == len(plan)  # a run key names one run
    json.dumps([spec.options for spec in plan])  # options go into the rows as JSON
    assert method.input_requirements()
    assert set(METHODS) == {"dct_conv", "freqreg", "harmonic", "reorder", "ctnet", "frontier"}


def test_freqreg_runs_reach_the_schedule_and_render(rng, tmp_path):
    config = _config("freqreg_lenet_mnist", epochs=3, runs=1)
    config["batch_size"] = 8
    config["tail_dropout"]["gamma"] = 0.9
    config["models"] = {"lenet300": config["models"]["lenet300"]}
    method = method_class("freqreg")(config)
    plan = method.plan()
    assert [s.key for s in plan] == ["lenet300-ref-seed0", "lenet300-v1-seed0", "lenet300-v2-seed0"]
    data = prepare_data(config, _dataset(rng, 16, 8, 28, 1), method.input_requirements())
    _quiet(method, data, tmp_path).run_all(plan)
    rows = _rows(tmp_path / "results.jsonl")
    assert [r["setting"] for r in rows] == ["lenet300-ref", "lenet300-v1", "lenet300-v2"]
    beta = 1.0
    for _ in range(2):  # after every epoch but the last: the row describes the model trained in epoch 3
        beta -= 0.9 * (beta - 0.010579)
    assert abs(rows[2]["params"]["kernel_active"] / rows[2]["params"]["kernel"] - beta) < 1e-3
    fields = rows[2]["method_fields"]
    assert fields["kept_fraction"] == 0.010579 and 0 <= fields["accuracy_float16"] <= 1
    assert rows[2]["bytes"]["float16_npz"] == rows[2]["bytes"]["total"] > 0 and rows[0]["bytes"] is None
    table, plots = method_class("freqreg")(_config("freqreg_lenet_mnist")).render(rows, str(tmp_path))
    assert "| lenet300 | v2 |" in table and "0.9569" in table and "⚠" in table and plots == []


@pytest.mark.slow
def test_harmonic_quick_budget_runs_every_setting_and_renders(rng, tmp_path):
    config = _config("harmonic_wrn_cifar", tier="quick")
    assert (config["depth"], config["width"], config["epochs"]) == (10, 1, 1)
    config["batch_size"] = 8
    method = method_class("harmonic")(config)
    plan = method.plan()
    assert [s.setting for s in plan] == list(config["settings"])
    data = prepare_data(config, _dataset(rng, 8, 8, 32), method.input_requirements())
    _quiet(method, data, tmp_path).run_all(plan)
    rows = _rows(tmp_path / "results.jsonl")
    params = {r["setting"]: r["params"]["trainable"] for r in rows}
    assert params["Harm-WRN lambda=2"] < params["Harm-WRN lambda=3"] < params["Harm-WRN"]
    diagnosis = {r["setting"]: r["method_fields"].pop("diagnosis") for r in rows}
    assert rows[0]["method_fields"] == {"variant": "plain", "levels": None, "dropout": 0.3, "depth": 10, "width": 1}
    for row in rows:  # every epoch's test accuracy is in the history; the inference path diagnosed
        found = diagnosis[row["setting"]]
        assert row["history"][-1]["val_accuracy"] == pytest.approx(row["metric"], abs=1e-6)
        assert set(found) == {"train_inference", "train_training_mode", "test_recalibrated"} | (
            set() if row["method_fields"]["variant"] == "plain" else {"test_unmerged"})
        assert all(0 <= v <= 1 for v in found.values())
        if "test_unmerged" in found:  # filter bank -> BN -> 1x1 computes what the merged block does
            assert found["test_unmerged"] == pytest.approx(row["metric"], abs=1 / 8 + 1e-9)
    table, plots = method_class("harmonic")(_config("harmonic_wrn_cifar")).render(rows, str(tmp_path))
    assert "| Harm-WRN progressive |" in table and "3.93" in table and "⚠" in table and "WRN-10-1" in table
    with open(plots[0], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_ctnet_resnet18_is_the_dct_family_in_channel_form_with_the_rate_term_only_in_ctnet(rng):
    pytest.importorskip("av")
    from dct_keras.regularizers import H265RateProxy

    config = _config("ctnet_imagenette")
    method = method_class("ctnet")(config)
    data = prepare_data(config, _dataset(rng, 10, 10, 32), method.input_requirements())
    ctnet, without_rate, plain = (method.build(spec, data) for spec in method.plan())
    layers = dct_keras.spectral_layers(ctnet)
    assert len(layers) == 20  # 17 3x3 convolutions, 3 projection shortcuts; the FC stays plain (paper, authors' code)
    assert type(ctnet.layers[-1]) is keras.layers.Dense
    assert dct_keras.count_params(ctnet).trainable == 11_173_962  # the plain ResNet-18's count
    for layer in layers:  # the authors' latest recipe: proxy with whole-matrix positions and L2 coupling, the perturbations
        proxy = layer.kernel_regularizer
        assert isinstance(proxy, H265RateProxy) and proxy.rate_term and proxy.l2_ratio == 1 and proxy.channel_positions == "matrix"
        assert (layer.training_noise, layer.coefficient_dropout, layer.training_bits) == (0.1, 0.05, 8)
        if all(k == 1 for k in getattr(layer, "kernel_size", (1,))):
            assert layer.pointwise == "channel_block_dct2d" and layer.pointwise_block == 16
    for layer in dct_keras.spectral_layers(without_rate):  # everything but the rate term
        proxy = layer.kernel_regularizer
        assert not proxy.rate_term and proxy.l2_ratio == 1 and proxy.strength == 1e-5
        assert (layer.training_noise, layer.coefficient_dropout, layer.training_bits) == (0.1, 0.05, 8)
    assert all(layer.kernel_regularizer is None and (layer.training_noise, layer.coefficient_dropout, layer.training_bits) == (0, 0, 0)
               for layer in dct_keras.spectral_layers(plain))
    assert isinstance(ctnet.optimizer, keras.optimizers.AdamW) and ctnet.optimizer.weight_decay == 0.01
    assert ctnet.optimizer.global_clipnorm == 1.0 and config["batch_size"] == 256  # train_imagenet.py's default
    for layer in ctnet.layers:  # PyTorch's batch normalization, as the authors' code
        if isinstance(layer, keras.layers.BatchNormalization):
            assert (layer.momentum, layer.epsilon) == (0.9, 1e-5)
    for a, b, c in zip(ctnet.weights, without_rate.weights, plain.weights):  # same initial coefficients in every setting
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(c))
    # The authors' initialization: torch.nn.init.kaiming_uniform_(weight_dct, a=sqrt(5)) draws the
    # coefficients from U(-b, b), b = gain sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)), fan_in = in k k.
    for layer in layers:
        coefficients = keras.ops.convert_to_numpy(layer.spectral_weights[0].coefficients)
        kh, kw, fan_in = coefficients.shape[0], coefficients.shape[1], coefficients.shape[0] * coefficients.shape[1] * coefficients.shape[2]
        bound = np.sqrt(2 / (1 + 5)) * np.sqrt(3 / fan_in)
        assert np.abs(coefficients).max() <= bound * (1 + 1e-6)
        assert np.std(coefficients) == pytest.approx(bound / np.sqrt(3), rel=0.05)


@pytest.mark.parametrize("recipe, expected", [
    ("run1", dict(lr=1e-3, wd=0.01, l2_ratio=0, warmup=0, perturbations=(0, 0, 0), block=512, bits=12)),
    ("run3", dict(lr=5e-4, wd=1e-3, l2_ratio=0.5, warmup=4, perturbations=(0, 0, 0), block=16, bits=12)),
    ("latest", dict(lr=1e-3, wd=0.01, l2_ratio=1, warmup=5, perturbations=(0.1, 0.05, 8), block=16, bits=8)),
])
def test_each_ctnet_recipe_is_its_paper_run(recipe, expected):
    # README "Run 1" (code at 2280557: no L2 coupling, rate warm-up, noise, dropout or 8-bit training; one
    # channel DCT per 1x1; 12-bit export), train-ctnet-18c.sh ("Run 3"), and the newest defaults.
    config = _config("ctnet_imagenette", recipe=recipe)
    proxy = config["rate_proxy"]
    assert config["recipe"] == recipe and config["learning_rate"]["cosine"]["initial"] == expected["lr"]
    assert config["optimizer"]["weight_decay"] == expected["wd"] and proxy["l2_ratio"] == expected["l2_ratio"]
    assert proxy["warmup_epochs"] == expected["warmup"] and proxy["block"] == expected["block"]
    assert (proxy["q"] if proxy["training_noise"] else 0, proxy["coefficient_dropout"], proxy["training_bits"]) == expected["perturbations"]
    assert config["export"]["bit_depth"] == expected["bits"] and config["batch_size"] == 256
    assert config_hash(config) not in {config_hash(_config("ctnet_imagenette", recipe=other)) for other in ("run1", "run3", "latest")
                                       if other != recipe}
    callbacks = method_class("ctnet")(config).callbacks(RunSpec("CTNet-18", 0, {"rate_term": True, "perturbations": True}),
                                                        _Data())
    assert [type(c).__name__ for c in callbacks][:1] == (["RateWarmup"] if expected["warmup"] else ["ExportSizeLogger"])


class _Data:
    x_test = np.zeros((2, 8, 8, 3), "float32")
    y_test = np.zeros(2, "int64")


class _SmallCTNet(method_class("ctnet")):
    """CTNet's protocol on a small DCT network (fast)."""

    def build(self, spec, data):
        from dct_keras.regularizers import H265RateProxy

        inputs = keras.Input(data.x_train.shape[1:])
        x = dct_keras.DCTConv2D(8, 3, padding="same", kernel_regularizer=H265RateProxy(1e-3))(inputs)
        x = keras.layers.GlobalAveragePooling2D()(keras.layers.BatchNormalization()(x))
        model = keras.Model(inputs, keras.layers.Dense(data.num_classes, activation="softmax")(x))
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model


def test_ctnet_rows_log_sizes_export_decode_and_render(rng, tmp_path):
    pytest.importorskip("av")
    config = _config("ctnet_imagenette", tier="quick")
    config["batch_size"] = 8
    method = _SmallCTNet(config)
    data = prepare_data(config, _dataset(rng, 16, 16, 8, classes=3), ())
    _quiet(method, data, tmp_path).run_all(method.plan(_Args(settings=["DCT-18 plain"])))
    (row,) = _rows(tmp_path / "results.jsonl")
    assert row["history"][0]["h265_bytes"] > 0 and 0 <= row["history"][0]["test_accuracy"] <= 1
    fields = row["method_fields"]
    assert fields["recipe"] == "latest" and (tmp_path / fields["export_dir"] / "manifest.json").exists()
    assert row["bytes"]["total"] == fields["h265"]["total"] == sum(row["bytes"][k] for k in ("video", "raw", "manifest"))
    assert abs(fields["accuracy_decoded"] - row["metric"]) <= 2 / 16  # 8-bit coefficients may flip a prediction or two
    table, plots = method_class("ctnet")(_config("ctnet_imagenette")).render([row], str(tmp_path))
    assert "DCT-18 plain (seed 0, recipe latest)" in table and "paper: Run 3" in table and "21.7x" in table and "⚠" in table
    assert os.path.getsize(plots[0]) > 0


class _Args:
    def __init__(self, **values):
        self.__dict__.update(values)


class _SmallReorder(method_class("reorder")):
    """Reorder-DCT's protocol on a small trained CNN instead of a ResNet-18."""

    def setup(self, data, out_dir, log, verbose="auto"):
        keras.utils.set_random_seed(0)
        inputs = keras.Input(data.x_train.shape[1:])
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
        x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        self.trained = keras.Model(inputs, keras.layers.Dense(data.num_classes, activation="softmax")(x))
        self.trained.compile("adam", "sparse_categorical_crossentropy")
        self.trained.fit(data.x_train, data.y_train, epochs=2, verbose=0)


@pytest.mark.slow
def test_reorder_compresses_finetunes_and_renders_through_the_runner(rng, tmp_path):
    config = _config("reorder_resnet18_cifar", tier="quick")
    config["batch_size"] = 8
    args = _Args(compressors=["reorder", "l1", "l1-unstructured"], finetune_images=16)
    configured = _SmallReorder.configure(config, args)
    assert config["grid"]["compressors"] != configured["grid"]["compressors"]  # the config as given stays as it is
    method = _SmallReorder(configured)
    plan = method.plan(args)
    assert method.config == configured  # planning changes nothing
    assert [s.setting for s in plan] == [
        "uncompressed", "reorder-uniform-rows4-rate4", "reorder-uniform-rows4-rate16", "reorder-progressive-r-rows4-r0_0.25",
        "l1-uniform-rows4-rate4", "l1-uniform-rows4-rate16", "l1-progressive-r-rows4-r0_0.25",
        "l1-unstructured-uniform-rows4-rate4", "l1-unstructured-uniform-rows4-rate16", "l1-unstructured-progressive-r-rows4-r0_0.25"]
    # The paper's l1 gets the same fine-tune; ours (unstructured) is evaluated as pruned.
    assert [s.epochs for s in plan] == [None] * 7 + [0, 0, 0]
    data = prepare_data(config, _dataset(rng, 32, 16, 8, classes=4), ())
    method.setup(data, str(tmp_path), print)
    _quiet(method, data, tmp_path).run_all(plan)
    rows = {r["setting"]: r for r in _rows(tmp_path / "results.jsonl")}
    reordered = rows["reorder-uniform-rows4-rate4"]
    fields = reordered["method_fields"]
    assert reordered["epochs_done"] == 1 and reordered["epoch_examples"] == 16
    assert 0 < fields["nsse"] < 1 and set(fields["nsse_layers"]) == {"conv2d_1", "dense"}
    assert reordered["params"]["total"] < rows["uncompressed"]["params"]["total"]
    assert fields["accuracy_compressed"] == pytest.approx(fields["accuracy_compressed"]) and fields["rows"] == 4
    pruned = rows["l1-unstructured-uniform-rows4-rate4"]
    assert pruned["epochs_done"] == 0 and pruned["metric"] == pruned["method_fields"]["accuracy_compressed"]
    columns = rows["l1-uniform-rows4-rate4"]
    assert columns["epochs_done"] == 1 and columns["history"][0]["pruned_fraction"] > 0.5  # zeros held through the fine-tune
    assert columns["method_fields"]["params_kept"] > pruned["method_fields"]["params_kept"]  # + the kept columns' positions
    table, plots = method_class("reorder")(_config("reorder_resnet18_cifar")).render(list(rows.values()), str(tmp_path))
    assert "| uncompressed | — |" in table and "| uniform g=4, r=4 | reorder |" in table and "| uniform g=4, r=16 | l1 |" in table
    assert [os.path.basename(p) for p in plots] == ["accuracy_vs_params.png", "nsse_vs_rate.png"]


@pytest.mark.slow
def test_the_frontier_ships_every_technique_and_marks_the_pareto_front(rng, tmp_path):
    pytest.importorskip("av")
    config = _config("frontier_lenet5_mnist", tier="quick", epochs=1)
    config["batch_size"] = 16
    config["bits"] = [8, 4]
    method = method_class("frontier")(config)
    plan = method.plan(_Args(techniques=["plain", "pruning", "freqreg", "reorder", "ctnet"]))
    assert [s.setting for s in plan] == ["plain", "pruning-sparsity0.9", "freqreg-kept_fraction0.05",
                                         "reorder-compression_rate16", "ctnet-strength0.001"]
    assert plan[0].epochs == 0 and plan[3].epochs == config["finetune_epochs"]  # plain ships the network it trained once
    data = prepare_data(config, _dataset(rng, 64, 32, 28, 1), method.input_requirements())
    method.setup(data, str(tmp_path), lambda *_: None, 0)
    _quiet(method, data, tmp_path).run_all(plan)
    rows = {r["setting"]: r for r in _rows(tmp_path / "results.jsonl")}
    for row in rows.values():
        points = row["method_fields"]["points"]
        # The plain network also ships at float32 / float16 (the baselines), every other point at the config's bits.
        assert set(points) == ({"32", "16", "8", "4"} if row["setting"] == "plain" else {"8", "4"})
        assert points["4"]["bytes"]["total"] < points["8"]["bytes"]["total"]
        for point in points.values():
            assert os.path.getsize(tmp_path / point["file"]) == point["bytes"]["total"] and 0 <= point["accuracy"] <= 1
        assert row["bytes"]["total"] == row["method_fields"]["points"]["4"]["bytes"]["total"]
    assert rows["plain"]["method_fields"]["base_training_s"] > 0 and rows["plain"]["epochs_done"] == 0
    pruned = read_weights(tmp_path / rows["pruning-sparsity0.9"]["method_fields"]["points"]["8"]["file"])
    kernels = [w for name, w in pruned.items() if name.endswith("kernel")]
    assert sum((w == 0).sum() for w in kernels) / sum(w.size for w in kernels) == pytest.approx(0.9, abs=0.01)
    assert rows["ctnet-strength0.001"]["method_fields"]["h265"]["bytes"] > 0
    table, plots = method_class("frontier")(_config("frontier_lenet5_mnist")).render(list(rows.values()), str(tmp_path))
    lines = [line for line in table.splitlines() if line.startswith("| ") and "technique" not in line]
    assert len(lines) == 2 * len(rows) + 2 + 1  # every run at two bit widths (plain at four), CTNet's H.265 export
    best = -1.0
    for line in lines:  # sorted by bytes; a point is on the front exactly when it beats every smaller one
        accuracy = float(line.split(" | ")[7])
        assert line.rstrip().endswith("★ |") == (accuracy > best)
        best = max(best, accuracy)
    assert "Oktay" in table and os.path.getsize(plots[0]) > 0


def test_a_model_the_file_format_refuses_stops_the_frontier_with_its_run_named(rng, tmp_path, monkeypatch):
    from dct_keras.decode import ShippedFormatError
    from dct_keras.experiment.errors import RunError
    from dct_keras.export import ship

    def refuse(model, path, bits=8):
        raise ShippedFormatError(f"{path}: the decoded model's outputs differ from the probe.")

    monkeypatch.setattr(ship, "save_shipped", refuse)
    config = _config("frontier_lenet5_mnist", tier="quick", epochs=1)
    config["batch_size"] = 16
    method = method_class("frontier")(config)
    plan = method.plan(_Args(techniques=["plain"]))
    data = prepare_data(config, _dataset(rng, 32, 16, 28, 1), method.input_requirements())
    method.setup(data, str(tmp_path), lambda *_: None, 0)
    with pytest.raises(RunError, match=r"^plain-seed0-\w+: its model does not ship at 32 bits: .*probe\. Its training "
                                       r"is kept under .*checkpoints: a rerun ships it again"):
        _quiet(method, data, tmp_path).run_all(plan)
    assert not (tmp_path / "results.jsonl").exists() or not _rows(tmp_path / "results.jsonl")


def test_a_frontier_rows_identity_is_its_config_less_the_other_techniques():
    from dct_keras.experiment.config import config_hash
    from dct_keras.experiment.protocol import RunSpec

    config = _config("frontier_lenet5_mnist", tier="budget")
    grown = {**config, "techniques": {**config["techniques"], "rd": [2.0]}, "rate_distortion": {"warmup_epochs": 1, "log_speed": 10},
             "anchors": []}
    before, after = method_class("frontier")(config), method_class("frontier")(grown)
    assert config_hash(before.identity()) == config_hash(after.identity())  # adding a technique keeps every row
    freqreg = RunSpec("freqreg-kept_fraction0.05", 0, {"technique": "freqreg", "budget": 0.05})
    pruning = RunSpec("pruning-sparsity0.9", 0, {"technique": "pruning", "budget": 0.9})
    assert before.run_identity(freqreg) == {"tail_dropout": config["tail_dropout"]} and before.run_identity(pruning) is None
    changed = method_class("frontier")({**config, "tail_dropout": {**config["tail_dropout"], "gamma": 0.3}})
    assert config_hash(changed.run_identity(freqreg)) != config_hash(before.run_identity(freqreg))  # its own section counts
    assert config_hash(method_class("frontier")({**config, "bits": [8]}).identity()) != config_hash(before.identity())


def test_the_frontier_from_the_trained_network_keeps_its_weights_and_fine_tunes(rng, tmp_path):
    config = _config("frontier_lenet5_mnist", tier="quick", epochs=1)
    config.update(batch_size=16, start="trained", finetune_examples=32)
    method = method_class("frontier")(config)
    plan = method.plan(_Args(techniques=["plain", "harmonic", "dct_conv"]))
    assert [s.setting for s in plan][:2] == ["plain", "plain_finetuned"]  # the reference with the same budget
    assert all((s.epochs, s.examples) == ((0, None) if s.setting == "plain" else (config["finetune_epochs"], 32))
               for s in plan)
    data = prepare_data(config, _dataset(rng, 64, 16, 28, 1), method.input_requirements())
    method.setup(data, str(tmp_path), lambda *_: None, 0)
    trained = method._trained_plain(0, data)[0]
    # Harmonic blocks of every level (u + v < 9) express the trained 5x5 kernels exactly; the fine-tune starts there.
    full = method.build(RunSpec("harmonic-levels9", 0, {"technique": "harmonic", "budget": 9}), data)
    np.testing.assert_allclose(full.predict(data.x_test, verbose=0), trained.predict(data.x_test, verbose=0), atol=1e-4)
    # Nothing switched off: the DCT-Conv network computes the trained one too.
    dct = method.build(RunSpec("dct_conv-switch_off0", 0, {"technique": "dct_conv", "budget": 0.0}), data)
    np.testing.assert_allclose(dct.predict(data.x_test, verbose=0), trained.predict(data.x_test, verbose=0), atol=1e-4)
    row = _quiet(method, data, tmp_path).run(plan[2])
    assert row["epoch_examples"] == 32 and row["epochs_done"] == config["finetune_epochs"]
    config["recalibrate_examples"] = 16  # a batch-normalized network's statistics are recomputed after training
    found = method_class("frontier")(config).callbacks(plan[2], data)
    assert type(found[-1]).__name__ == "RecalibrateNormalization" and len(found[-1].images) == 16
    with pytest.raises(Exception, match="start"):
        method_class("frontier").validate({**config, "start": "pretrained"}, "c.json")


def test_the_trained_start_is_keyed_by_its_own_training_only():
    from dct_keras.experiment.config import config_hash
    from dct_keras.experiment.frontier import base_config

    config = _config("frontier_resnet20_cifar", tier="budget")
    base = base_config(config)
    # The base section's training replaces the top-level (fine-tune) one.
    assert (base["epochs"], base["learning_rate"], base["augment"]) == (80, config["base"]["learning_rate"], True)
    assert "techniques" not in base and "bits" not in base and "start" not in base
    other = {**config, "techniques": {"plain": [None], "pruning": [0.5]}, "bits": [3], "finetune_epochs": 2,
             "learning_rate": {"constant": 0.5}}
    assert config_hash(base_config(other)) == config_hash(base)
    for key, value in (("base", {**config["base"], "epochs": 39}), ("model", "resnet18"), ("dataset", "cifar100")):
        assert config_hash(base_config({**config, key: value})) != config_hash(base), key
    # Without a base section the network trains under the top-level keys (the LeNet-5 and ResNet-18 frontiers).
    lenet = _config("frontier_lenet5_mnist")
    assert base_config(lenet)["epochs"] == lenet["epochs"] and base_config(lenet)["optimizer"] == lenet["optimizer"]


def test_the_frontier_plot_zooms_to_the_useful_accuracy_range():
    from dct_keras.experiment.frontier import accuracy_ranges

    points = [{"accuracy": a, "pareto": p} for a, p in ((0.25, True), (0.62, False), (0.86, True), (0.88, True))]
    anchors = [{"accuracy": 0.912}, {"accuracy": None}]  # a size-only anchor sets no accuracy
    (low, top), (zoom_low, zoom_top) = accuracy_ranges(points, anchors)
    assert (low, top, zoom_low, zoom_top) == pytest.approx((0.20, 0.922, 0.83, 0.922))
    # Accuracies near 1: the axis stops at 1; a weak anchor widens the full panel, not the zoom.
    (low, top), (zoom_low, _) = accuracy_ranges([{"accuracy": 0.995, "pareto": True}], [{"accuracy": 0.9}])
    assert (low, top, zoom_low) == pytest.approx((0.85, 1.0, 0.945))


def read_weights(path):
    from dct_keras.decode import read_shipped

    return read_shipped(path).weights


def test_a_technique_registered_in_a_test_is_planned_built_and_reported_by_the_frontier(rng, tmp_path):
    from dct_keras.experiment.techniques import Technique, register, unregister

    calls = []

    class Halved(Technique):
        """Ships the network with every kernel halved (a technique the frontier has never heard of)."""

        name = "halved"
        budget_word = "factor"
        marker = "*"
        note = "halved: a test's technique."

        def model(self, context, budget, seed):
            model = context.source()
            for layer in model.layers:
                if hasattr(layer, "kernel"):
                    layer.kernel.assign(layer.kernel * budget)
            return model

        def callbacks(self, context, budget, seed):
            calls.append(context.steps)
            return []

    register(Halved())
    try:
        config = _config("frontier_lenet5_mnist", tier="quick", epochs=1)
        config.update(batch_size=16, bits=[8], techniques={"plain": [None], "halved": [0.5]})
        method_class("frontier").validate(config, "c.json")
        method = method_class("frontier")(config)
        plan = method.plan()
        assert [s.setting for s in plan] == ["plain", "halved-factor0.5"]
        data = prepare_data(config, _dataset(rng, 32, 16, 28, 1), method.input_requirements())
        method.setup(data, str(tmp_path), lambda *_: None, 0)
        _quiet(method, data, tmp_path).run_all(plan)
        rows = {r["setting"]: r for r in _rows(tmp_path / "results.jsonl")}
        assert rows["halved-factor0.5"]["method_fields"]["points"]["8"]["bytes"]["total"] > 0
        assert calls == [2]  # 32 images at batch 16, one epoch
        table, _ = method.render(list(rows.values()), str(tmp_path))
        assert "| halved | factor 0.5 | 8 |" in table and "halved: a test's technique." in table
    finally:
        unregister("halved")
