using AttentionWise.Kernels;
using AttentionWise.Ops;
using ILGPU;

namespace AttentionWise.Backends;

/// <summary>Adam's update on GPU-shaped devices: up to <see cref="AdamBatch.Slots"/> parameter tensors a launch (a
/// thread per element of them all), so that a model's many small tensors (biases, the attention layer's 72-weight
/// convolution) do not each cost a launch. Each element gets the formula of the per-tensor kernel.</summary>
internal sealed class GpuAdamUpdate(ComputeDevice device) : IAdamUpdate
{
    public void Step(IReadOnlyList<AdamTensors> tensors, AdamScalars scalars)
    {
        var k = device.Kernels<AdamBatchKernelSet>();
        var live = tensors.Where(t => t.Value.Length > 0).ToList();
        for (int first = 0; first < live.Count; first += AdamBatch.Slots)
        {
            var slots = new AdamSlot[AdamBatch.Slots];
            int end = 0;
            for (int i = 0; i < AdamBatch.Slots; i++)
            {
                if (first + i < live.Count)
                {
                    var t = live[first + i];
                    end += t.Value.Length;
                    slots[i] = new AdamSlot(t.Value.View, t.M.View, t.V.View, t.Gradient.View, t.StepSize, end);
                }
                else
                {
                    // An unused slot: no element reaches it (its end is the last used one's); any views will do.
                    var last = slots[i - 1];
                    slots[i] = new AdamSlot(last.P, last.M, last.V, last.G, 0f, end);
                }
            }
            // Reads p, m, v, g and writes p, m, v: 7 floats an element.
            device.Work(null, 28L * end);
            var layout = device.Layout(end);
            k.StepBatch(layout.Threads, new AdamBatch(slots[0], slots[1], slots[2], slots[3]), scalars, layout);
        }
    }

    /// <summary>Four gradients a launch (a kernel that writes zeros) instead of a fill each.</summary>
    public void ZeroGradients(IReadOnlyList<DeviceTensor> gradients)
    {
        var k = device.Kernels<AdamBatchKernelSet>();
        var live = gradients.Where(g => g.Length > 0).ToList();
        for (int first = 0; first < live.Count; first += 4)
        {
            var views = new ArrayView<float>[4];
            var ends = new int[4];
            int end = 0;
            for (int i = 0; i < 4; i++)
            {
                if (first + i < live.Count)
                {
                    views[i] = live[first + i].View;
                    end += live[first + i].Length;
                }
                else
                {
                    views[i] = views[i - 1];
                }
                ends[i] = end;
            }
            device.Work(null, 4L * end);
            var layout = device.Layout(end);
            k.ZeroBatch(layout.Threads, new ZeroBatch(views[0], ends[0], views[1], ends[1], views[2], ends[2], views[3], ends[3]), layout);
        }
    }
}
