from foley_studio.cli import main

raise SystemExit(main())
