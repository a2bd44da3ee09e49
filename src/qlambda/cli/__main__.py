from qlambda.cli import main

main()
