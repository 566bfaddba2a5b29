from mass_tui.cli import main

raise SystemExit(main())
