from pathlib import Path

import pytest

from textssl.config import DataConfig
from textssl.recipe import load_config, load_pretrain_config
from textssl.errors import TextsslError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_are_the_built_in_run():
    config = load_config()
    assert (config.data.dataset, config.model.name, config.algorithm.name) == ("rotten_tomatoes", "minilm-l6", "supervised")
    assert config.data.labels_per_class == 10
    assert str(config.output_dir) == "runs/supervised-rotten_tomatoes-10pc-seed0"


def test_extends_and_overrides_take_precedence_in_order(tmp_path):
    write(tmp_path / "base.yaml", "train:\n  max_steps: 100\n  batch_size: 4\ndata:\n  max_length: 32\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\ntrain:\n  max_steps: 200\n")
    config = load_config(child, ["train.batch_size=8"])
    assert (config.train.max_steps, config.train.batch_size, config.data.max_length) == (200, 8, 32)


def test_unknown_key_in_a_recipe_names_file_and_key(tmp_path):
    recipe = write(tmp_path / "typo.yaml", "train:\n  max_stepz: 10\n")
    with pytest.raises(TextsslError, match=r"typo\.yaml.*train\.max_stepz"):
        load_config(recipe)


def test_unknown_key_in_a_base_recipe_names_the_base(tmp_path):
    write(tmp_path / "base.yaml", "data:\n  datset: x\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\n")
    with pytest.raises(TextsslError, match=r"base\.yaml.*data\.datset"):
        load_config(child)


def test_unknown_override_and_wrong_type_are_errors():
    with pytest.raises(TextsslError, match=r"command-line overrides.*train\.nope"):
        load_config(None, ["train.nope=1"])
    with pytest.raises(TextsslError, match=r"train\.max_steps"):
        load_config(None, ["train.max_steps=many"])
    with pytest.raises(TextsslError, match="section.key=value"):
        load_config(None, ["max_steps=3"])


def test_the_decision_rule_and_its_tolerance_are_checked():
    assert load_config(None, ["data.prior_decision=bounded"]).data.share_tolerance == 0.03
    with pytest.raises(TextsslError, match=r"data\.prior_decision must be one of bayes, bounded, shares"):
        load_config(None, ["data.prior_decision=nearest"])
    with pytest.raises(TextsslError, match=r"data\.share_tolerance is a share"):
        load_config(None, ["data.share_tolerance=5"])


def test_algorithm_options_are_checked_against_the_named_algorithm():
    with pytest.raises(TextsslError, match="unknown algorithm 'nope'.*supervised"):
        load_config(None, ["algorithm.name=nope"])
    with pytest.raises(TextsslError, match=r"algorithm\.temperature"):
        load_config(None, ["algorithm.temperature=0.4"])


def test_bad_yaml_names_the_line(tmp_path):
    recipe = write(tmp_path / "bad.yaml", "train:\n  max_steps: 10\n   batch_size: [\n")
    with pytest.raises(TextsslError, match=r"bad\.yaml, line \d+"):
        load_config(recipe)


def test_extends_cycle_and_missing_recipe(tmp_path):
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(TextsslError, match="cycle"):
        load_config(tmp_path / "a.yaml")
    with pytest.raises(TextsslError, match="recipe not found"):
        load_config(tmp_path / "missing.yaml")


def test_value_checks():
    with pytest.raises(TextsslError, match="either `labels_per_class` or `num_labels`"):
        load_config(None, ["data.num_labels=20"])
    with pytest.raises(TextsslError, match="override 'train.max_steps=\\[': the value is not valid YAML"):
        load_config(None, ["train.max_steps=["])
    with pytest.raises(TextsslError, match="lr_schedule"):
        load_config(None, ["train.lr_schedule=step"])


def test_yes_no_words_stay_strings_for_string_fields(tmp_path):
    """YAML 1.1 reads `no` as false; a string field must get the word, a bool field its meaning."""
    recipe = write(tmp_path / "r.yaml", "train:\n  mixed_precision: no\n  resume: no\ndata:\n  dataset: off\n")
    config = load_config(recipe)
    assert (config.train.mixed_precision, config.train.resume, config.data.dataset) == ("no", False, "off")
    config = load_config(None, ["train.mixed_precision=no", "train.progress_bar=off", "train.resume=true",
                                "train.max_steps=7", "train.learning_rate=1e-4"])
    assert (config.train.mixed_precision, config.train.progress_bar, config.train.resume) == ("no", False, True)
    assert (config.train.max_steps, config.train.learning_rate) == (7, 1e-4)


def test_shipped_recipes_load():
    recipes = sorted((Path(__file__).parents[1] / "recipes").rglob("*.yaml"))
    assert recipes
    for recipe in recipes:
        (load_pretrain_config if recipe.parent.name == "pretrain" else load_config)(recipe)


def test_make_train_recipe_reads_the_encoder_its_pretraining_recipe_writes():
    recipes = Path(__file__).parents[1] / "recipes"
    stage = load_pretrain_config(recipes / "pretrain/setfit_pairs.yaml")
    best = load_config(recipes / "text/setfit_pseudo_label.yaml")
    assert Path(best.model.name) == stage.output_dir / "model"
    assert (best.data.labels_per_class, best.train.seed) == (stage.data.labels_per_class, stage.pretrain.seed)


@pytest.mark.parametrize("method", ["mean_teacher", "ict"])
def test_methods_whose_targets_come_from_the_teacher_refuse_ema_decay_0(method):
    with pytest.raises(TextsslError, match=rf"algorithm\.ema_decay of {method} must be above 0"):
        load_config(None, [f"algorithm.name={method}", "algorithm.ema_decay=0"])
    assert load_config(None, ["algorithm.name=pi_model", "algorithm.ema_decay=0"]).algorithm.ema_decay == 0


def test_a_methods_name_is_stated_once_and_a_config_built_in_python_reads_back_as_that_method(tmp_path):
    from textssl.algorithms import ALGORITHMS, algorithm_class
    from textssl.config import Config

    for name, method in ALGORITHMS.items():
        assert method.name == method.Config().name == name
    built = Config(algorithm=algorithm_class("fully_supervised").Config())
    recipe = write(tmp_path / "saved.yaml", built.to_yaml())
    assert load_config(recipe).algorithm.name == "fully_supervised"
    with pytest.raises(TextsslError, match="options of fixmatch"):
        algorithm_class("fixmatch").Config(name="uda")


def test_switching_the_method_names_each_option_it_does_not_take_and_its_line(tmp_path):
    write(tmp_path / "base.yaml", "algorithm:\n  name: pseudo_label\n  unsup_weight: 2\n  threshold: 0.9\n")
    recipe = write(tmp_path / "child.yaml", "extends: base.yaml\nalgorithm:\n  rampup: linear\n")
    with pytest.raises(TextsslError, match=r"the method supervised does not take the option\(s\) "
                                           r"algorithm\.unsup_weight \(line 3\), threshold \(line 4\) in .*base\.yaml; "
                                           r"rampup \(line 3\) in .*child\.yaml; remove them"):
        load_config(recipe, ["algorithm.name=supervised"])
    with pytest.raises(TextsslError, match=r"fixmatch does not take .*treshold in command-line overrides"):
        load_config(recipe, ["algorithm.name=fixmatch", "algorithm.treshold=0.5"])
    assert load_config(recipe, ["algorithm.name=fixmatch"]).algorithm.threshold == 0.9
