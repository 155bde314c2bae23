from cerflow.sample.generate import main

main()
