from stagewise.logs import to_file

to_file(snakemake.log[0])
raise SystemExit(f"input file not found: {snakemake.output[0]}. Obtain it from {snakemake.params.source} and place "
                 "it at this path (the config's md5 keys check it).")
