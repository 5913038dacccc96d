// ILGPU.Context and ILGPU.Context.Builder: the compatibility layer's context always holds exactly one
// device, the multi-threaded CPU device (ILGPU's own contexts always contain a CPU device as well).
using System.Collections.Immutable;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace ILGPU
{
    /// <summary>The main ILGPU context: owns the devices it was built with.</summary>
    public sealed class Context : IDisposable
    {
        private bool _disposed;

        private Context(ImmutableArray<Device> devices) => Devices = devices;

        /// <summary>The informal version of this ILGPU implementation.</summary>
        public string Version => "1.5.3-compat";

        /// <summary>Every device this context knows, in registration order.</summary>
        public ImmutableArray<Device> Devices { get; }

        public static Builder Create() => new();

        public static Context Create(Action<Builder> buildingCallback)
        {
            ArgumentNullException.ThrowIfNull(buildingCallback);
            var builder = new Builder();
            buildingCallback(builder);
            return builder.ToContext();
        }

        public static Context CreateDefault() => Create(builder => builder.Default());

        /// <summary>The first GPU device, or the CPU device when there is none or when <paramref name="preferCPU"/>.</summary>
        public Device GetPreferredDevice(bool preferCPU)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!preferCPU)
            {
                foreach (var device in Devices)
                {
                    if (device.AcceleratorType != AcceleratorType.CPU)
                        return device;
                }
            }
            foreach (var device in Devices)
            {
                if (device.AcceleratorType == AcceleratorType.CPU)
                    return device;
            }
            throw new NotSupportedException("This context holds no device.");
        }

        public ImmutableArray<Device>.Enumerator GetEnumerator() => Devices.GetEnumerator();

        public void Dispose() => _disposed = true;

        public override string ToString() => $"ILGPU compatibility context ({Devices.Length} device(s))";

        /// <summary>Builds a context (ILGPU.Context.Builder).</summary>
        public sealed class Builder
        {
            private bool _cpu;

            internal Builder() { }

            /// <summary>Enables every supported accelerator: here, the CPU.</summary>
            public Builder Default() => AllAccelerators();

            /// <summary>Enables every supported accelerator: here, the CPU.</summary>
            public Builder AllAccelerators()
            {
                _cpu = true;
                return this;
            }

            public Context ToContext()
            {
                var devices = ImmutableArray.CreateBuilder<Device>();
                // ILGPU registers a CPU device in every context; so does the compatibility layer.
                _ = _cpu;
                devices.Add(CPUDevice.Default);
                return new Context(devices.ToImmutable());
            }
        }
    }

    /// <summary>Enables ILGPU.Algorithms (XMath and friends) on a context builder.</summary>
    public static class AlgorithmContext
    {
        /// <summary>Enables the algorithms library. On the CPU-only compatibility layer, XMath maps directly to
        /// System.MathF, so there is nothing to register.</summary>
        public static Context.Builder EnableAlgorithms(this Context.Builder builder) => builder;
    }
}
