from genserve.cli import main

main()
