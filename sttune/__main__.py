from sttune.cli import main

main()
