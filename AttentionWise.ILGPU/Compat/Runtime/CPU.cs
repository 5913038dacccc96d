// ILGPU.Runtime.CPU: the CPU device and accelerator of the compatibility layer.
namespace ILGPU.Runtime.CPU
{
    /// <summary>The CPU device: runs kernels on every core of this machine.</summary>
    public sealed class CPUDevice : Device
    {
        private CPUDevice() { }

        /// <summary>The default CPU device.</summary>
        public static CPUDevice Default { get; } = new();

        public override AcceleratorType AcceleratorType => AcceleratorType.CPU;
        public override string Name => $"CPU ({Environment.ProcessorCount} threads, ILGPU compatibility layer)";
        public override long MemorySize => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        public override int NumMultiprocessors => Environment.ProcessorCount;
        public override int MaxNumThreadsPerGroup => 16;

        public override Accelerator CreateAccelerator(Context context) => new CPUAccelerator(context, this);
    }

    /// <summary>The CPU accelerator: a launch is spread over <see cref="NumThreads"/> worker threads.</summary>
    public sealed class CPUAccelerator : Accelerator
    {
        internal CPUAccelerator(Context context, CPUDevice device)
            : base(context, device) =>
            NumThreads = Environment.ProcessorCount;

        /// <summary>The number of threads a launch runs on.</summary>
        public int NumThreads { get; }
    }
}
