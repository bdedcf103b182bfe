"""massmem.backends"""
