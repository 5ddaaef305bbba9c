from risk_manager.cli import main

main()
