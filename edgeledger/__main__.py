from edgeledger.cli import main

main()
