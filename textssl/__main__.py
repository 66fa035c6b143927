from textssl.cli import main

main()
