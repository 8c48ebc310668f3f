"""Serve a GGUF model with llama.cpp's HTTP server (xllamacpp) on 127.0.0.1.

usage: python serve.py MODEL.gguf PORT
Its OpenAI-compatible API is then at http://127.0.0.1:PORT/v1 (the agents' llm.base_url).
Prints "LISTENING <address>" once the model is loaded, then serves until killed.
"""
import os
import sys
import time

import xllamacpp

model, port = sys.argv[1], int(sys.argv[2])
params = xllamacpp.CommonParams()
params.model.path = model
params.hostnames = ["127.0.0.1"]
params.port = port
params.n_ctx = 4096
params.n_parallel = 1
threads = int(os.environ.get("PGREFLEX_LLM_THREADS", "2"))
params.cpuparams.n_threads = threads
params.cpuparams_batch.n_threads = threads
params.use_jinja = True
# Each request evaluates its whole prompt: with the prompt cache, a request's tokens depend on
# which request came before it (a cached prefix is evaluated in other batches), and golden
# traces verified --live need the same answer to the same request at temperature 0.
params.cache_prompt = False
server = xllamacpp.Server(params)
print("LISTENING", server.listening_address, flush=True)
while True:
    time.sleep(3600)
