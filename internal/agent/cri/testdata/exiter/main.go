// exiter is the test container's program: it prints its arguments, working
// directory and $GREETING, then exits with $EXIT_CODE.
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	wd, _ := os.Getwd()
	fmt.Printf("args=%v wd=%s greeting=%s\n", os.Args[1:], wd, os.Getenv("GREETING"))
	code, _ := strconv.Atoi(os.Getenv("EXIT_CODE"))
	os.Exit(code)
}
