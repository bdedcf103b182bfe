"""massmem.agents"""
