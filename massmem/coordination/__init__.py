"""massmem.coordination"""
