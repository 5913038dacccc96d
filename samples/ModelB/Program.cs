// The paper's model B (8 heads, 2 attention layers) trained and evaluated on Fashion-MNIST in a dozen lines.
//   dotnet run -- [TRAIN-IMAGES] [EPOCHS]     (default: 2048 images, 1 epoch; the paper: 60,000 and 10)
using AttentionWise;
using AttentionWise.Layers;
using AttentionWise.Training;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

int images = args.Length > 0 ? int.Parse(args[0]) : 2048, epochs = args.Length > 1 ? int.Parse(args[1]) : 1;
using var device = ComputeDevice.Open(null);                            // CUDA, then OpenCL, then the CPU
var data = FashionMnist.Load();                                          // /usr/share/datasets/fashion-mnist/
using var model = ModelRegistry.Create(device, ModelRegistry.Configure("attention-b", 1, 28, 28));
Init.Apply(model.Network, new Rng(1));
using var loss = new LogSoftmaxNllLoss(device);
using var adam = new Adam(device, model.Network.NamedParameters());
var result = new TrainingLoop(model.Network, loss, adam, new TrainingOptions { Epochs = epochs, BatchSize = 256 })
    .Fit(data.Train.Take(images), data.Test.Take(1000));
foreach (var e in result.Epochs)
    Console.WriteLine($"attention-b on {device.Name}: epoch {e.Epoch}, loss sum {e.LossSum:F4}, test accuracy {e.TestAccuracy:F2} %");
return result.Status == RunStatus.Completed ? 0 : 1;
