"""massmem.context"""
