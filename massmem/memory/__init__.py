"""massmem.memory"""
