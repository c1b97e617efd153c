from yavio_cli.main import main

main()
