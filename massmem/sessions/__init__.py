"""massmem.sessions"""
