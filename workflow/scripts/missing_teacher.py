from stagewise.logs import to_file

to_file(snakemake.log[0])
raise SystemExit(f"teacher files not found: {', '.join(snakemake.output)}. Obtain them from {snakemake.params.source} "
                 "and place them at these paths (the config's md5 keys check them).")
