import sys

from airflow_mlprovider.cli import main

sys.exit(main())
