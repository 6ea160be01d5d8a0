from lakestow.cli import main

main()
