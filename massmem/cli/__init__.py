"""massmem.cli"""
