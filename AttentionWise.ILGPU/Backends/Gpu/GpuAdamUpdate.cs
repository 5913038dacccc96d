using AttentionWise.Kernels;
using AttentionWise.Ops;
using ILGPU;

namespace AttentionWise.Backends;

/// <summary>Adam's update on GPU-shaped devices: up to <see cref="AdamBatch.Slots"/> parameter tensors a launch (a
/// thread per element of them all, through the launch layout), so that a model's many small tensors (biases, the
/// attention layer's 72-weight convolution) do not each cost a launch; each element gets the formula of the per-tensor
/// kernel. The gradients are zeroed the same way.</summary>
internal sealed class GpuAdamUpdate(ComputeDevice device) : IAdamUpdate
{
    public void Step(IReadOnlyList<AdamTensors> tensors, AdamScalars scalars)
    {
        var k = device.Kernels<AdamBatchKernelSet>();
        foreach (var (batch, ends) in Batches(tensors, t => t.Value.Length))
        {
            // An unused slot repeats the last used tensor with its end: no element reaches it.
            var slots = new AdamSlot[AdamBatch.Slots];
            for (int i = 0; i < slots.Length; i++)
            {
                var t = batch[Math.Min(i, batch.Count - 1)];
                slots[i] = new AdamSlot(t.Value.View, t.M.View, t.V.View, t.Gradient.View, t.StepSize, ends[i]);
            }
            int total = ends[^1];
            // Reads p, m, v, g and writes p, m, v: 7 floats an element.
            device.Work(null, 28L * total);
            var layout = device.Layout(total);
            k.StepBatch(layout.Threads, new AdamBatch(slots[0], slots[1], slots[2], slots[3]), scalars, layout);
        }
    }

    public void ZeroGradients(IReadOnlyList<DeviceTensor> gradients)
    {
        var k = device.Kernels<AdamBatchKernelSet>();
        foreach (var (batch, ends) in Batches(gradients, g => g.Length))
        {
            ArrayView<float> View(int i) => batch[Math.Min(i, batch.Count - 1)].View;
            int total = ends[^1];
            device.Work(null, 4L * total);
            var layout = device.Layout(total);
            k.ZeroBatch(layout.Threads, new ZeroBatch(View(0), ends[0], View(1), ends[1], View(2), ends[2], View(3), ends[3]), layout);
        }
    }

    /// <summary>The non-empty items in launches of up to <see cref="AdamBatch.Slots"/>, each with the ends of its slots in
    /// the launch's flat index (slots past the last item end where it ends).</summary>
    private static IEnumerable<(List<T> Batch, int[] Ends)> Batches<T>(IReadOnlyList<T> items, Func<T, int> length)
    {
        var live = items.Where(t => length(t) > 0).ToList();
        for (int first = 0; first < live.Count; first += AdamBatch.Slots)
        {
            var batch = live.Skip(first).Take(AdamBatch.Slots).ToList();
            var ends = new int[AdamBatch.Slots];
            int end = 0;
            for (int i = 0; i < ends.Length; i++)
            {
                if (i < batch.Count)
                    end += length(batch[i]);
                ends[i] = end;
            }
            yield return (batch, ends);
        }
    }
}
