import pandas as pd

from stagewise.logs import to_file
from stagewise.reporting.plots import seed_spread_plot

to_file(snakemake.log[0])
seed_spread_plot(pd.read_csv(snakemake.input[0], dtype={"seed": str}), snakemake.params.metric, snakemake.output[0])
