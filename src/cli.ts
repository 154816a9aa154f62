// placeholder: the command line lands with the pipeline
console.error('webgpu-quantize: not built yet');
process.exit(1);
