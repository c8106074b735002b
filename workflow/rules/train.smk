rule backbone:
    """A Hugging Face model folder to fine-tune: a hub checkpoint, or a small model built from config."""
    input:
        backbone_inputs,
    output:
        directory(BACKBONE),
    log:
        "logs/train/backbone/{reranker}.log",
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        spec=backbone_spec,
        corpus=config["corpus"],
    script:
        "../scripts/backbone.py"


rule train:
    """One fine-tuning stage; the schedule's last letter picks the loss, its first part the initial weights."""
    input:
        unpack(training_inputs),
    output:
        directory(MODEL),
    log:
        "logs/train/{reranker}/{schedule}/seed{seed}.log",
    benchmark:
        TRAIN_BENCHMARK
    priority: 5  # the longest path of the demo: start training before the ColBERT index
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    params:
        stage=lambda wildcards: last_stage(wildcards.schedule),
        # what the weights depend on (the rerun trigger): the last stage's settings with training.second_stage's
        # entry, and the teacher for a D stage only; the script reads the full settings from the config
        determinants=lambda wildcards: cell_training(config, wildcards.schedule).determinants,
        train=config["train_queries"],
        corpus=config["corpus"],
        work_dir="resources/checkpoints/{reranker}/{schedule}/seed{seed}",
    script:
        "../scripts/train.py"
