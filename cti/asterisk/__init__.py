"""asterisk"""
