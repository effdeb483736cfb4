from headwater.cli.app import main

main()
