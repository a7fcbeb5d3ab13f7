from edge_infer.cli.main import main

raise SystemExit(main())
