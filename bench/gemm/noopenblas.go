//go:build !(openblas && cgo)

package main

func openblasInfo() string { return "" }
