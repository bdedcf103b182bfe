"""massmem.config"""
